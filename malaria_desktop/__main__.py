"""``python -m malaria_desktop``: same as the ``malaria-desktop`` command."""

import sys

from malaria_desktop.cli import main

if __name__ == "__main__":
    sys.exit(main())
