"""Fetch the demo page every few seconds, like a worker that depends on a web service."""

import time
import urllib.request

URL = "http://127.0.0.1:8765/"

while True:
    with urllib.request.urlopen(URL, timeout=5) as response:
        print(f"worker: fetched {len(response.read())} bytes (HTTP {response.status})")
    time.sleep(3)
