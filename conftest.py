"""Collection rule for the doctests of the sklasd package (pytest's rootdir conftest)."""
import importlib.util

# sklasd._dask imports dask.distributed, which is optional (sklasd[dask])
collect_ignore = [] if importlib.util.find_spec("distributed") else ["sklasd/_dask.py"]
