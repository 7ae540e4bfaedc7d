// The sandbox ("pause") program of the real test node's pods.
module gpt-deploy.test/cluster/pause

go 1.25.0
