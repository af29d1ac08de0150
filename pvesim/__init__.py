"""pvesim: a Proxmox VE API simulator for tests, demos and replaying real clusters."""
