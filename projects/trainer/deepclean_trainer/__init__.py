"""The DeepClean trainer service (``deepclean-train``)."""
