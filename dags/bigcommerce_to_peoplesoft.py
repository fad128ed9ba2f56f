"""Airflow DAGs for BigCommerce -> PeopleSoft: settled orders, refunds and shoppers into the general ledger.

Configuration: include/pipelines/bigcommerce_to_peoplesoft.yaml; accounts and ChartFields:
include/mappings/bigcommerce_to_peoplesoft.yaml.
"""

from ml_connector.pipeline import build_dags

bigcommerce_to_peoplesoft, bigcommerce_to_peoplesoft_reconcile = build_dags("bigcommerce_to_peoplesoft")
