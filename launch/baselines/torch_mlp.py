# The PyTorch + Ignite reference for BENCHMARKS.md B2 (digits MLP) and B3 (MNIST-sized MLP), run by launch/bench in
# the same run as ours. Alone it is one process; under mpirun every rank joins a gloo process group (Ignite's idist
# over torch.distributed, DistributedDataParallel, DistributedSampler), as Ignite's distributed examples do.
#   python torch_mlp.py --model digits|mnist --threads T [--digits PATH]
# Prints `result samples_per_s=S test_accuracy=A` (rank 0; accuracy only for digits) over the training loop only.
import argparse, os, time
import numpy as np, torch, torch.nn as nn, torch.distributed as dist
from torch.utils.data import DataLoader, TensorDataset, DistributedSampler
from ignite.engine import create_supervised_trainer, create_supervised_evaluator, Events
from ignite.metrics import Accuracy

p = argparse.ArgumentParser()
p.add_argument("--model", default="digits"); p.add_argument("--threads", type=int, default=1)
p.add_argument("--digits", default="../shared/data/digits.csv")
args = p.parse_args()
torch.set_num_threads(args.threads); torch.manual_seed(0)
rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", "0")); world = int(os.environ.get("OMPI_COMM_WORLD_SIZE", "1"))
if world > 1:
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1"); os.environ.setdefault("MASTER_PORT", "29517")
    dist.init_process_group("gloo", rank=rank, world_size=world)

if args.model == "digits":
    table = np.loadtxt(args.digits, delimiter=",", skiprows=1, dtype=np.float32)
    x = torch.from_numpy(table[:, :-1] / 16); y = torch.from_numpy(table[:, -1].astype(np.int64))
    cut = len(y) * 8 // 10
    train, test = TensorDataset(x[:cut], y[:cut]), TensorDataset(x[cut:], y[cut:])
    widths, batch, epochs = [64, 128, 128, 10], 32, 10
else:
    g = torch.Generator().manual_seed(1)
    train = TensorDataset(torch.rand(60000, 784, generator=g), torch.randint(0, 10, (60000,), generator=g))
    test, widths, batch, epochs = None, [784, 512, 512, 10], 64, 1

layers = []
for i in range(len(widths) - 1):
    layers.append(nn.Linear(widths[i], widths[i + 1]))
    if i < len(widths) - 2: layers.append(nn.ReLU())
model = nn.Sequential(*layers)
if world > 1: model = nn.parallel.DistributedDataParallel(model)
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
sampler = DistributedSampler(train, num_replicas=world, rank=rank, shuffle=True, seed=0) if world > 1 else None
loader = DataLoader(train, batch_size=batch, shuffle=sampler is None, sampler=sampler, drop_last=True)
trainer = create_supervised_trainer(model, optimizer, nn.CrossEntropyLoss())
clock = {}
@trainer.on(Events.STARTED)
def started(engine):
    if world > 1: dist.barrier()
    clock["start"] = time.perf_counter()
@trainer.on(Events.EPOCH_STARTED)
def reshuffle(engine):
    if sampler is not None: sampler.set_epoch(engine.state.epoch)
trainer.run(loader, max_epochs=epochs)
seconds = time.perf_counter() - clock["start"]
samples = trainer.state.iteration * batch * world
accuracy = float("nan")
if test is not None:
    evaluator = create_supervised_evaluator(model, metrics={"accuracy": Accuracy()})
    evaluator.run(DataLoader(test, batch_size=256))
    accuracy = evaluator.state.metrics["accuracy"]
if rank == 0: print(f"result samples_per_s={samples / seconds:.0f} test_accuracy={accuracy:.4f}", flush=True)
if world > 1:
    dist.barrier()
    os._exit(0)  # gloo's teardown at interpreter exit sometimes aborts ("terminate called without an active exception")
