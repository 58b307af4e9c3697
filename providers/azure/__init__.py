"""Azure: the ``CloudProvider`` contract over ARM (compute, network), Azure Monitor and the
Network Watcher flow logs in blob storage. Imported only when a policy or command uses Azure."""
