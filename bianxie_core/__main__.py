from bianxie_core.cli import run

raise SystemExit(run())
