"""`python -m ml.training`: the SageMaker training entry point (see ml/training/entry.py)."""

import sys

from ml.training.entry import main

sys.exit(main())
