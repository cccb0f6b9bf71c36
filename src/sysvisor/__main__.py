import sys

from sysvisor.cli import main

sys.exit(main())
