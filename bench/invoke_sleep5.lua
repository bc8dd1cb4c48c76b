-- wrk: POST an event that makes the tests' Python runtime sleep 5 ms (managed instances).
wrk.method = "POST"
wrk.body = '{"ms":5}'
wrk.headers["Content-Type"] = "application/json"
