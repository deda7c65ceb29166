"""Shopper pages: the tracking page (``/t/{token}``), the order lookup (``/track``), the branding preview,
the returns portal (``/r/new/{token}``, ``/r/{return token}``, ``/returns``) with claims, and the engagement
links messages carry (open pixel ``/e/o``, click redirect ``/e/c``, preferences ``/u``)."""

from fastapi import APIRouter
from starlette.routing import BaseRoute

from doorstep.portal import claims, lookup, preferences, preview, return_status, returns, tracking

# Routes the app puts first at its top level, ahead of every included router: the tracking page.
FIRST: list[BaseRoute] = [tracking.page_route]

router = APIRouter()
router.include_router(tracking.router)
router.include_router(lookup.router)
router.include_router(preview.router)
router.include_router(preferences.router)
router.include_router(returns.router)  # before return_status: /r/new/… is not a return token
router.include_router(return_status.router)
router.include_router(claims.router)
