// Package awxrunner runs deploy plans on AWX: it implements deploy.Runner
// over awxclient, turning AWX jobs, ad-hoc commands and their events into
// deploy's terms, and checks builds on the build server. It also holds
// AWX's side of the contract with the playbooks: which playbook each job
// template role runs, what the inventories hold (Prepare, InventorySpecs),
// and the one-time setup of the project and templates (Bootstrap).
package awxrunner
