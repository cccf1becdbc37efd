#!/usr/bin/env bash
# The distributed tests across two "hosts" on one machine: two network namespaces joined by a
# veth pair, one MPI rank in each, talking TCP over the pair (needs root for `ip netns`; not run
# by CI). Usage, from the repository root, in a venv with tapegrad and the [mpi] extra:
#     sudo -E env PATH="$PATH" bash tests/distributed/two_hosts_netns.sh [pytest args]
# mpiexec (hydra) runs in the first namespace and starts the remote rank's proxy through a
# stand-in for ssh that enters the second namespace; UCX_TLS=tcp keeps MPICH's transport off
# shared memory, so every byte between the ranks crosses the veth pair, as between two hosts.
set -euo pipefail
NS0=tgmpi0 NS1=tgmpi1 IP0=10.213.0.1 IP1=10.213.0.2
drop_namespaces() { ip netns del "$NS0" 2>/dev/null || true; ip netns del "$NS1" 2>/dev/null || true; }
drop_namespaces  # left over from an interrupted run
WORK=$(mktemp -d)
trap 'drop_namespaces; rm -rf "$WORK"' EXIT

ip netns add "$NS0"
ip netns add "$NS1"
ip link add tgveth0 type veth peer name tgveth1
ip link set tgveth0 netns "$NS0"
ip link set tgveth1 netns "$NS1"
ip -n "$NS0" addr add "$IP0/24" dev tgveth0
ip -n "$NS1" addr add "$IP1/24" dev tgveth1
for ns in "$NS0" "$NS1"; do ip -n "$ns" link set lo up; done
ip -n "$NS0" link set tgveth0 up
ip -n "$NS1" link set tgveth1 up

# the host file, as on a cluster: one slot on each host
printf '%s:1\n%s:1\n' "$IP0" "$IP1" > "$WORK/hosts"
# "ssh HOST COMMAND" for hydra: run COMMAND in HOST's namespace
cat > "$WORK/ns-ssh" <<SH
#!/usr/bin/env bash
while [[ "\$1" == -* ]]; do shift; done
case "\$1" in $IP0) ns=$NS0 ;; $IP1) ns=$NS1 ;; *) echo "no namespace for \$1" >&2; exit 1 ;; esac
shift
exec ip netns exec "\$ns" sh -c "\$*"
SH
chmod +x "$WORK/ns-ssh"

bytes() { ip -n "$NS0" -s link show tgveth0 | awk 'NR==4 {print $1}'; }
before=$(bytes)
ip netns exec "$NS0" env UCX_TLS=tcp "$(command -v mpiexec)" -f "$WORK/hosts" -n 2 \
  -launcher ssh -launcher-exec "$WORK/ns-ssh" -genvall \
  python -m pytest -q -p no:cacheprovider tests/distributed "$@"
echo "bytes received over the veth pair by the first host: $(( $(bytes) - before ))"
