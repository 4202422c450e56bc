"""Route modules. Each module here that defines ``router`` (an APIRouter) is included by
``zvans.web.app.create_app`` automatically, in name order: adding a page is adding a file."""
