"""The local Google Cloud stack: emulators, gRPC stand-ins, HTTP fakes, demo data and driver.

Never deployed. Everything here binds to 127.0.0.1 only.
"""
