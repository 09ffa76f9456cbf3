"""The wsbench command: work in progress."""


def main() -> int:
    raise SystemExit("not built yet")
