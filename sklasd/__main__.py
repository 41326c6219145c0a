"""``python -m sklasd``: the same as the ``sklasd`` command."""
from sklasd._entry import main

if __name__ == "__main__":
    raise SystemExit(main())
