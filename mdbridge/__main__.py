from __future__ import annotations

from mdbridge.cli import main

raise SystemExit(main())
