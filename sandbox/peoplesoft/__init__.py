"""PeopleSoft Integration Broker simulator: CI SOAP services (journals, customers), QAS, OAuth2."""

from sandbox.peoplesoft.server import PeopleSoftSim

__all__ = ["PeopleSoftSim"]
