"""Shopper pages: the tracking page (``/t/{token}``), the order lookup (``/track``) and the branding preview."""

from fastapi import APIRouter

from doorstep.portal import lookup, preview, tracking

router = APIRouter()
router.include_router(tracking.router)
router.include_router(lookup.router)
router.include_router(preview.router)
