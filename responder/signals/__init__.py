"""AWS's own signals beyond a single GuardDuty finding: AWS Health's exposed-credentials event
(:mod:`.health`) and GuardDuty's attack sequences (:mod:`.sequence`). Each parses the untrusted
input into plain, validated facts; :mod:`.view` says them in the report and the SOC message."""
