-- wrk: POST a small event to the emulator's invoke endpoint of vigil host.
wrk.method = "POST"
wrk.body = '{"hello":"world"}'
wrk.headers["Content-Type"] = "application/json"
