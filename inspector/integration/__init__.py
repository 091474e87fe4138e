"""Line I/O adapters behind the domain's ``LineIO`` port: one per library, built by ``station.factory``."""
