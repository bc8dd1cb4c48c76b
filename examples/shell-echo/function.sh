# The handler of the shell example: answer with the event wrapped in {"echo": …}.
handler() {
	echo "handling $1" >&2
	printf '{"echo":%s}' "$1"
}
