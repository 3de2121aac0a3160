"""The shape of ids: of monitors, and of the settings that name them."""

from __future__ import annotations

import re
from typing import Final

ID_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""1-64 letters, digits, '.', '_' or '-', starting with a letter or digit."""
