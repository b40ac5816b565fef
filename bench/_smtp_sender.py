"""The sending MTA of `inbox.py`, in a process of its own as a real one is.

Reads a pickled list of (index, sender, recipient, raw message) on stdin and
delivers them over `--connections` SMTP connections at once (each sends its share
in turn), then prints JSON: when each message's transaction started and when its
250 came (`time.monotonic`, the same clock in every process of the machine), the
span of the whole sending, the errors, and this process's own CPU time. Only the
standard library: it starts at once and shares nothing with the receiver.
"""

from __future__ import annotations

import argparse
import json
import pickle
import smtplib
import sys
import threading
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    prepared: list[tuple[int, str, str, bytes]] = pickle.load(sys.stdin.buffer)  # noqa: S301  (our own parent's data)
    started_at: dict[int, float] = {}
    acked_at: dict[int, float] = {}
    errors: list[str] = []

    def send(batch: list[tuple[int, str, str, bytes]]) -> None:
        with smtplib.SMTP(args.host, args.port, timeout=60) as smtp:
            for index, sender, to, raw in batch:
                started_at[index] = time.monotonic()
                try:
                    smtp.sendmail(sender, [to], raw)
                except smtplib.SMTPException as error:
                    errors.append(repr(error))
                    continue
                acked_at[index] = time.monotonic()

    batches = [prepared[i :: args.connections] for i in range(args.connections)]
    threads = [threading.Thread(target=send, args=(batch,)) for batch in batches]
    t0, cpu0 = time.monotonic(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = {
        "t0": t0,
        "t1": time.monotonic(),
        "cpu_seconds": time.process_time() - cpu0,
        "started_at": started_at,
        "acked_at": acked_at,
        "errors": errors,
    }
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
