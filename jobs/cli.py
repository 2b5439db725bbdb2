"""The ``raysift`` command: one subcommand per job driver."""

from __future__ import annotations

import sys

COMMANDS = {
    "run": ("jobs.pipeline", "crawl or documents -> clean documents"),
    "dedup": ("jobs.dedup", "global exact + fuzzy dedup of a document corpus"),
    "train-classifier": ("jobs.train_classifier", "train a fastText classifier"),
    "expand": ("jobs.expand", "DeepSeekMath-style math seed expansion"),
    "recipes": ("jobs.recipes", "list the bundled recipes, or show one fully resolved"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        lines = ["usage: raysift COMMAND [options]", "", "commands:"]
        lines += [f"  {name:<18}{desc}" for name, (_, desc) in COMMANDS.items()]
        lines += ["", "run `raysift COMMAND --help` for the options of a command"]
        print("\n".join(lines), file=sys.stdout if argv and argv[0] in ("-h", "--help") else sys.stderr)
        if argv and argv[0] not in ("-h", "--help"):
            print(f"raysift: error: unknown command {argv[0]!r}; choose one of: {', '.join(COMMANDS)}", file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = __import__(COMMANDS[argv[0]][0], fromlist=["main"])
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
