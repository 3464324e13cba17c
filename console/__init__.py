"""The department console: the pages each department works in, in a browser.

A backend for frontend: it keeps no domain data of its own and calls the five services' public
HTTP APIs with the signed-in organisation's bearer token.
"""
