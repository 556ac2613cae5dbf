import sys

from rcodec.cli import main

sys.exit(main())
