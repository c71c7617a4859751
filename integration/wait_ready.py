"""Wait until a container's server answers 200: integration/run.sh and integration/system-apache.sh.

    python integration/wait_ready.py URL TIMEOUT CONTAINER LABEL

Exits 0 at the first 200 from URL, and 1 with a message (prefixed with LABEL) when the container
stops running first or TIMEOUT seconds pass.
"""
import subprocess
import sys
import time
import urllib.error
import urllib.request

url, timeout, name, label = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
deadline, last = time.monotonic() + timeout, "no answer"
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=3):
            sys.exit(0)
    except urllib.error.HTTPError as error:
        last = f"HTTP {error.code}"
    except OSError as error:
        last = str(error)
    running = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", name],
                             capture_output=True, text=True).stdout.strip()
    if running != "true":
        sys.exit(f"{label}: the container exited before it became ready ({last})")
    time.sleep(1)
sys.exit(f"{label}: {url} was not ready within {timeout:.0f}s (last: {last})")
