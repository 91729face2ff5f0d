from bianxie_core.cli import main

raise SystemExit(main())
