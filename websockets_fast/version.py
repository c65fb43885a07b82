__all__ = ["tag", "version", "commit", "__version__"]

# As in websockets: ``tag`` is the release, ``version`` the full version
# string, ``commit`` the git commit of a development build (unknown here).
tag = version = __version__ = "0.1.0"
commit = None
