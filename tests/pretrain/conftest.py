"""Make the shared tiny setup (``_pretrain_tiny.py``) importable by the tests of this folder."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
