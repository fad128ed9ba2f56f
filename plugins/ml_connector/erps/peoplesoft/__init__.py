"""PeopleSoft (Integration Broker): CI services over SOAP for journals and customers, QAS for read-back.

``SYSTEM`` describes it to the rest of the package (entry point ``ml_connector.systems``). The
package imports only light modules, so reading the descriptor does not pull in zeep or Airflow:
the transport (``hook``), the buffers (``payload``) and the posting protocol (``poster``) are
imported by name, through ``adapter``, when a pipeline first needs them.
"""

from __future__ import annotations

from ml_connector.erps.peoplesoft.connection import CONNECTION_TYPE
from ml_connector.erps.peoplesoft.schema import JOURNAL_SCHEMA
from ml_connector.systems import Capability, SystemDescriptor, lazy

SYSTEM = SystemDescriptor(
    name="peoplesoft",
    kind="erp",
    adapter_factory=lazy(f"{__name__}.adapter:ADAPTER"),
    connection_type=CONNECTION_TYPE,
    erp_schema=JOURNAL_SCHEMA,
    capabilities=frozenset({Capability.JOURNALS, Capability.CUSTOMERS}),
)
