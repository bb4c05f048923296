"""A Ray cluster of several nodes on one machine (`ray.cluster_utils.Cluster`), and a job run
while one of its nodes is removed: for the multi-node tests and `bench.py reliability`."""

from __future__ import annotations

from typing import Any, Callable

NODE = {"num_cpus": 2, "object_store_memory": 300 * 2**20}  # each worker node


def start_cluster(workers: int = 2) -> Any:
    """A head with no CPUs (this process is its driver, as on a cluster whose head only
    schedules) and `workers` nodes of `NODE`, connected. Nothing runs on the driver's node;
    `cluster.worker_nodes_started` lists the worker nodes. Set any environment the workers
    need (the S3 endpoint) before calling: every node inherits this process's."""
    import ray
    from ray.cluster_utils import Cluster

    from swipe.cluster.session import scoped_env
    from tests.support.s3 import free_port

    # its own ports (another Ray may hold 8265), and every node's processes told its address
    # (swipe.cluster.session.start_local_ray says why)
    port = free_port()
    with scoped_env(RAY_ADDRESS=f"{ray.util.get_node_ip_address()}:{port}"):
        cluster = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 0, "include_dashboard": True, "dashboard_port": free_port(), "gcs_server_port": port,
            "object_store_memory": 200 * 2**20})
        cluster.worker_nodes_started = [cluster.add_node(**NODE) for _ in range(workers)]
    ray.init(address=cluster.address, log_to_driver=False)
    cluster.wait_for_nodes()
    return cluster


def through_node_loss(cluster: Any, index: int, ready: Callable[[], bool], job: Callable[[], Any]
                      ) -> tuple[Any, list[str], str | None]:
    """Run `job()` while worker node `index` is removed once `ready()` holds; then add a node
    in its place (an autoscaler's replacement). Returns (the job's result, the node ids
    removed, the remover's error)."""
    from tests.support.faults import NodeRemover

    victim = cluster.worker_nodes_started[index]
    remover = NodeRemover(cluster, victim, ready=ready).start()
    try:
        result = job()
    finally:  # a failed job leaves the cluster whole too
        removed = remover.join()
        if removed:
            cluster.worker_nodes_started[index] = cluster.add_node(**NODE)
            cluster.wait_for_nodes()
    return result, removed, remover.error
