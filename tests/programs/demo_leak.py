# SPDX-License-Identifier: MIT
"""The README demo: a request handler that keeps a timing record per request
in a class-level table that nobody clears (the bug from our users' stories)."""
import time


class Timings:
    table = {}          # class level: lives as long as the process

    @classmethod
    def record(cls, request_id, elapsed):
        cls.table[request_id] = (request_id, elapsed)   # never cleared


def handle(request_id):
    start = time.perf_counter()
    body = "hello %d" % request_id
    Timings.record(request_id, time.perf_counter() - start)
    return body


def main():
    served = 0
    for request_id in range(20000):
        served += len(handle(request_id))
    print("served", served, "bytes")


if __name__ == "__main__":
    main()
