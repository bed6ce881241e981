"""The baseline: a functions-framework hello world, measured beside our functions."""

import flask
import functions_framework


@functions_framework.http
def hello(request: flask.Request) -> str:
    return "hello"
