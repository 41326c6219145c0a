"""Private helpers shared by several sklasd subpackages (nothing public here)."""
