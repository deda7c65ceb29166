"""Every table, imported in one place so Base.metadata is complete (for Alembic and the schema test)."""

from doorstep.catalog import models as catalog_models
from doorstep.customers import models as customers_models
from doorstep.db import Base
from doorstep.flows import models as flows_models
from doorstep.imports import models as imports_models
from doorstep.inbound import models as inbound_models
from doorstep.jobs import models as jobs_models
from doorstep.message_templates import models as message_templates_models
from doorstep.messaging import models as messaging_models
from doorstep.orders import models as orders_models
from doorstep.outbox import models as outbox_models
from doorstep.returns import models as returns_models
from doorstep.reviews import models as reviews_models
from doorstep.shipments import models as shipments_models
from doorstep.stores import models as stores_models
from doorstep.webhooks import models as webhooks_models

MODULES = (
    stores_models,
    customers_models,
    orders_models,
    shipments_models,
    inbound_models,
    flows_models,
    jobs_models,
    catalog_models,
    reviews_models,
    imports_models,
    message_templates_models,
    outbox_models,
    webhooks_models,
    messaging_models,
    returns_models,
)
metadata = Base.metadata
