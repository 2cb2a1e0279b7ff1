"""``python -m deepclean_exporter``: the exporter's command line."""

from .cli import main

main()
