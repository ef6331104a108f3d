import sys

from liteformer.cli import main

sys.exit(main())
