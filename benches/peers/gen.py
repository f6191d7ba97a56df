#!/usr/bin/env python3
"""Deterministic v2 flow-log generator for the peer benchmark.

Writes one default-format (v2) file with a header line: `RECORDS` records from `ENIS` network
interfaces over `HOURS` hours, delivered slightly out of order (each record up to 4 minutes
behind, well inside flowvigil's default 15-minute lateness, so no record is late).

Every record is *egress* from its interface (srcaddr = the interface's address, dstport a TCP/UDP
service port below 32768): then the SQL aggregate's `count(distinct dstaddr)` and
`count(distinct dstport)` are exactly flowvigil's `fan_out` and `dst_ports_out`, and the three
engines can be checked number for number.

Usage: gen.py OUT.log [RECORDS] [ENIS] [HOURS] [SEED]
"""

import random
import sys

SERVICE_PORTS = [443, 80, 53, 123, 22, 3306, 5432, 6379, 8080, 8443, 9200, 27017, 25, 3389]


def main() -> None:
    out = sys.argv[1]
    records = int(sys.argv[2]) if len(sys.argv) > 2 else 5_000_000
    enis = int(sys.argv[3]) if len(sys.argv) > 3 else 500
    hours = int(sys.argv[4]) if len(sys.argv) > 4 else 12
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 42
    rng = random.Random(seed)
    t0 = 1_735_689_600  # 2025-01-01T00:00:00Z
    span = hours * 3600
    names = [f"eni-{rng.getrandbits(68):017x}" for _ in range(enis)]
    own = [f"10.{i // 250}.{i % 250}.{10 + i % 200}" for i in range(enis)]
    # Each interface talks mostly to its own few peers, sometimes to anyone.
    peers = [
        [f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(20)]
        + [f"{rng.choice([3, 13, 52, 54, 104, 151])}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(20)]
        for _ in range(enis)
    ]
    ports = [rng.sample(SERVICE_PORTS, 4) for _ in range(enis)]
    step = span / records
    rand = rng.random
    randrange = rng.randrange
    lines = []
    buf_records = 0
    with open(out, "w", encoding="ascii", newline="\n") as f:
        f.write(
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets "
            "bytes start end action log-status\n"
        )
        # Records are produced in event order; delivery delay reorders them within a small
        # horizon: sort each block of 4,096 by start + delay.
        block = []
        for i in range(records):
            e = randrange(enis)
            start = t0 + int(i * step) - randrange(60)
            if rand() < 0.05:
                dst = f"198.51.{randrange(256)}.{randrange(1, 255)}"
            else:
                dst = peers[e][int(rand() ** 2 * 40)]
            if rand() < 0.02:
                dport = randrange(1, 32768)
            else:
                dport = ports[e][int(rand() ** 2 * 4)]
            proto = 17 if dport in (53, 123) else 6
            pk = 1 + int(rand() ** 3 * 200)
            by = pk * (40 + randrange(1400))
            action = "REJECT" if rand() < 0.03 else "ACCEPT"
            end = start + randrange(1, 60)
            line = (
                f"2 123456789012 {names[e]} {own[e]} {dst} {32768 + randrange(28000)} {dport} "
                f"{proto} {pk} {by} {start} {end} {action} OK\n"
            )
            block.append((end + randrange(240), i, line))
            if len(block) == 4096:
                block.sort()
                f.write("".join(b[2] for b in block))
                block = []
        block.sort()
        f.write("".join(b[2] for b in block))


if __name__ == "__main__":
    main()
