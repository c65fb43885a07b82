"""``python -m websockets_fast <uri>``: the interactive client of :mod:`websockets_fast.cli`."""

from .cli import main

if __name__ == "__main__":
    main()
