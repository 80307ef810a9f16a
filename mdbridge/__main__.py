from __future__ import annotations

from mdbridge.command import main

raise SystemExit(main())
