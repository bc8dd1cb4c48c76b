"""The classic greeting function: Hello, NAME! (NAME from the event or its query string)."""
import time


def lambda_handler(event, context):
    event = event if isinstance(event, dict) else {}
    query = event.get("queryStringParameters") or {}
    name = event.get("name") or query.get("name") or "World"
    # Two switches for the demo: a failing and a slow invocation.
    if name == "error" or "fail" in event:
        raise ValueError(f"cannot greet {name!r}")
    if "sleep" in event or "sleep" in query:
        time.sleep(float(event.get("sleep") or query.get("sleep")))
    print(f"greeting {name} (request {context.aws_request_id})")
    return {"statusCode": 200, "body": f"Hello, {name}!"}
