"""Running the whole suite: which services exist, supervising them, tmux or headless.

``./run.sh`` builds the environments and calls ``python -m deepclean_tools.suite``.
"""
