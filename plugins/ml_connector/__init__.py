"""ml-connector: storefront revenue into the general ledger, as an Airflow 3 DAG package."""

__version__ = "0.1.0"
