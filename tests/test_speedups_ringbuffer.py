"""The frame queue with water marks (websockets_fast.speedups.FrameQueue).

The unit tests run on the active backend; the property tests drive the
compiled build and the Python source with the same operations and compare
everything they do, callbacks included.
"""

import gc
import importlib
import sys
import tracemalloc
import weakref
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from websockets_fast.speedups import FrameQueue

PURE = importlib.import_module("websockets_fast._pyspeedups.ringbuffer")
try:
    COMPILED = importlib.import_module("websockets_fast._speedups.ringbuffer")
except ImportError:  # not built: the comparisons have nothing to compare
    COMPILED = None

needs_compiled = pytest.mark.skipif(COMPILED is None, reason="compiled ringbuffer module not built")


class Recorder:
    """pause/resume callbacks that log their calls."""

    def __init__(self):
        self.calls = []

    def pause(self):
        self.calls.append("pause")

    def resume(self):
        self.calls.append("resume")


def make(high=16, low=None, cls=FrameQueue):
    recorder = Recorder()
    return cls(high, low, recorder.pause, recorder.resume), recorder.calls


def test_fifo_order_and_wraparound():
    queue, _ = make(None)
    expected = []
    counter = 0
    # Interleave pushes and pops so that head and tail wrap around the array
    # many times while it grows and shrinks.
    for round_ in range(40):
        for _ in range(round_ % 7 + 1):
            queue.push(counter)
            expected.append(counter)
            counter += 1
        for _ in range(round_ % 5):
            if expected:
                assert queue.peek() == expected[0]
                assert queue.pop() == expected.pop(0)
        assert len(queue) == len(expected)
    while expected:
        assert queue.pop() == expected.pop(0)
    assert len(queue) == 0 and not queue


def test_grow_and_shrink_many_items():
    queue, _ = make(None)
    for i in range(1000):
        queue.push(i)
    assert [queue.pop() for _ in range(600)] == list(range(600))
    for i in range(1000, 1500):
        queue.push(i)
    assert [queue.pop() for _ in range(900)] == list(range(600, 1500))
    assert len(queue) == 0


def test_empty_queue_errors():
    queue, calls = make()
    with pytest.raises(IndexError):
        queue.pop()
    with pytest.raises(IndexError):
        queue.peek()
    assert calls == []


def test_len_bool_peek():
    queue, _ = make()
    assert len(queue) == 0 and not queue
    queue.push(None)  # None is an item like any other
    assert len(queue) == 1 and queue
    assert queue.peek() is None
    assert len(queue) == 1
    assert queue.pop() is None
    assert not queue


def test_pause_once_above_high_resume_once_at_low():
    queue, calls = make(4, 1)
    for i in range(4):
        queue.push(i)
    assert calls == [] and not queue.paused
    queue.push(4)  # 5 > 4
    assert calls == ["pause"] and queue.paused
    for i in range(5, 10):
        queue.push(i)
    assert calls == ["pause"]  # once per crossing
    for _ in range(8):
        queue.pop()
    assert calls == ["pause"]  # 2 left, low is 1
    queue.pop()
    assert calls == ["pause", "resume"] and not queue.paused
    queue.pop()
    assert calls == ["pause", "resume"]


@pytest.mark.parametrize("cls", [PURE.FrameQueue] + ([COMPILED.FrameQueue] if COMPILED else []), ids=lambda cls: cls.__module__)
def test_detach_forgets_the_callbacks(cls):
    queue, calls = make(1, 0, cls)
    queue.push(0)
    queue.push(1)
    assert calls == ["pause"]
    recorder = queue.detach()
    assert recorder is None
    queue.pop()
    queue.pop()
    queue.push(2)
    queue.push(3)
    assert calls == ["pause"]
    # The queue's state goes on as before, without calls.
    assert queue.paused and len(queue) == 2


def test_detach_drops_the_references_to_the_callbacks():
    recorder = Recorder()
    queue = FrameQueue(4, 1, recorder.pause, recorder.resume)
    watch = weakref.ref(recorder)
    queue.detach()
    del recorder
    assert watch() is None


def test_between_marks_no_callback():
    queue, calls = make(4, 1)
    for i in range(5):
        queue.push(i)
    for _ in range(2):
        queue.pop()
    # 3 items: under high but above low, still paused; pushing again is no new crossing.
    queue.push(5)
    queue.push(6)
    assert calls == ["pause"]
    for _ in range(4):
        queue.pop()
    assert calls == ["pause", "resume"]
    # A second crossing calls pause again.
    for i in range(5):
        queue.push(i)
    assert calls == ["pause", "resume", "pause"]


def test_default_marks():
    queue = FrameQueue()
    assert (queue.high, queue.low) == (16, 4)
    assert (FrameQueue(10).high, FrameQueue(10).low) == (10, 2)
    assert (FrameQueue(3).high, FrameQueue(3).low) == (3, 0)


def test_high_zero_low_zero():
    queue, calls = make(0, 0)
    assert (queue.high, queue.low) == (0, 0)
    queue.push("a")
    assert calls == ["pause"]
    queue.push("b")
    assert calls == ["pause"]
    queue.pop()
    assert calls == ["pause"]
    queue.pop()
    assert calls == ["pause", "resume"]


def test_unbounded():
    queue, calls = make(None)
    assert (queue.high, queue.low) == (None, None)
    for i in range(5000):
        queue.push(i)
    assert calls == [] and not queue.paused
    assert len(queue) == 5000


def test_low_alone_sets_high_as_websockets_does():
    queue = FrameQueue(None, 3)
    assert (queue.high, queue.low) == (12, 3)


def test_no_callbacks():
    queue = FrameQueue(1, 0)
    queue.push(1)
    queue.push(2)
    assert queue.paused
    queue.pop()
    queue.pop()
    assert not queue.paused


@pytest.mark.parametrize(
    "high, low, exc",
    [
        (-1, None, ValueError),
        (4, -1, ValueError),
        (4, 5, ValueError),
        (None, -1, ValueError),
        ("16", None, TypeError),
        (16.0, None, TypeError),
        (16, 2.0, TypeError),
    ],
)
def test_invalid_marks(high, low, exc):
    with pytest.raises(exc):
        FrameQueue(high, low)


def test_huge_marks():
    queue = FrameQueue(2**100, 2**90)
    assert queue.high == sys.maxsize
    queue.push(1)
    assert not queue.paused


def test_clear_resumes_when_paused():
    queue, calls = make(1, 0)
    queue.clear()
    assert calls == []
    queue.push(1)
    queue.push(2)
    queue.clear()
    assert calls == ["pause", "resume"]
    assert len(queue) == 0 and not queue.paused
    with pytest.raises(IndexError):
        queue.pop()
    queue.push(3)
    assert queue.pop() == 3


def test_callback_error_propagates_state_stays_consistent():
    def fail():
        raise RuntimeError("callback failed")

    queue = FrameQueue(0, 0, fail, fail)
    with pytest.raises(RuntimeError):
        queue.push(1)
    assert len(queue) == 1 and queue.paused
    with pytest.raises(RuntimeError):
        queue.pop()
    assert len(queue) == 0 and not queue.paused


def test_releases_items_when_popped():
    class Item:
        pass

    queue = FrameQueue(None)
    item = Item()
    ref = weakref.ref(item)
    queue.push(item)
    queue.push(1)
    del item
    queue.pop()
    assert ref() is None


def test_cycles_through_callbacks_and_items_are_collected():
    class Connection:
        def __init__(self):
            self.queue = FrameQueue(2, 1, self.pause, self.resume)
            self.queue.push(self)  # an item that references its own queue's owner

        def pause(self):
            pass

        def resume(self):
            pass

    connection = Connection()
    ref = weakref.ref(connection)
    del connection
    gc.collect()
    assert ref() is None


def test_idle_queue_is_small():
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        queues = [FrameQueue() for _ in range(200)]
        for queue in queues:
            for i in range(20):
                queue.push(i)
            for i in range(20):
                queue.pop()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    per_queue = sum(stat.size_diff for stat in after.compare_to(before, "filename")) / len(queues)
    # An emptied queue keeps no array: about the size of the object itself.
    assert per_queue < 200, per_queue
    assert sys.getsizeof(queues[0]) < 160


def test_repr():
    assert "len=0" in repr(FrameQueue())


@needs_compiled
def test_compiled_build_is_the_same_source():
    # One source, compiled and run as Python: the compiled docstring is the file's.
    assert COMPILED.__doc__ == PURE.__doc__


# The two builds agree.

operations = st.lists(st.sampled_from(["push", "push", "pop", "peek", "clear", "len"]), max_size=120)
marks = st.one_of(
    st.tuples(st.none(), st.none()),
    st.tuples(st.integers(-1, 10), st.one_of(st.none(), st.integers(-1, 10))),
    st.tuples(st.none(), st.integers(0, 3)),
)


def drive(cls, high, low, ops):
    """Apply ``ops`` to a new queue; return everything observable."""
    log = []
    try:
        queue = cls(high, low, lambda: log.append("pause"), lambda: log.append("resume"))
    except Exception as exc:
        return ("error", type(exc), str(exc))
    counter = 0
    for op in ops:
        try:
            if op == "push":
                queue.push(counter)
                counter += 1
                log.append(None)
            elif op == "pop":
                log.append(queue.pop())
            elif op == "peek":
                log.append(queue.peek())
            elif op == "clear":
                queue.clear()
                log.append("cleared")
            else:
                log.append((len(queue), bool(queue)))
        except IndexError as exc:
            log.append(("IndexError", str(exc)))
        log.append(queue.paused)
    return log, queue.high, queue.low, len(queue)


@needs_compiled
@settings(max_examples=200, deadline=None)
@given(marks, operations)
def test_same_behaviour(marks, ops):
    high, low = marks
    assert drive(COMPILED.FrameQueue, high, low, ops) == drive(PURE.FrameQueue, high, low, ops)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 8), st.data())
def test_callbacks_once_per_crossing(high, data):
    # Against a model: pause exactly when the length first exceeds high,
    # resume exactly when it then drops to low.
    low = data.draw(st.integers(0, high))
    queue, calls = make(high, low)
    model_length, model_paused, expected = 0, False, []
    for op in data.draw(st.lists(st.booleans(), max_size=60)):
        if op:
            queue.push(object())
            model_length += 1
            if not model_paused and model_length > high:
                model_paused = True
                expected.append("pause")
        elif model_length:
            queue.pop()
            model_length -= 1
            if model_paused and model_length <= low:
                model_paused = False
                expected.append("resume")
        assert calls == expected
        assert queue.paused == model_paused


# Re-entrancy (issue 17): the queue is whole whenever Python code runs, the
# finalizers of its items included. Under tests/sanitize.sh the compiled
# queue's old behaviour was a heap-buffer-overflow; here a wrong length.

both_backends = pytest.mark.parametrize(
    "cls", [PURE.FrameQueue] + ([COMPILED.FrameQueue] if COMPILED else []), ids=lambda cls: cls.__module__
)


@both_backends
def test_clear_with_items_whose_finalizer_pushes(cls):
    queue = cls(None)

    class Pusher:
        def __del__(self):
            queue.push(0)

    for _ in range(10):
        queue.push(Pusher())
    queue.clear()
    assert len(queue) == 10
    assert [queue.pop() for _ in range(10)] == [0] * 10
    assert not queue


@both_backends
def test_clear_with_items_whose_finalizer_pops(cls):
    queue = cls(None)
    seen = []

    class Popper:
        def __del__(self):
            seen.append(len(queue))
            try:
                queue.pop()
            except IndexError:
                seen.append("empty")

    for _ in range(3):
        queue.push(Popper())
    queue.clear()
    assert seen == [0, "empty"] * 3
    assert len(queue) == 0 and not queue


@both_backends
def test_clear_resumes_before_finalizers_pause_again(cls):
    queue, calls = make(2, 0, cls)

    class Pusher:
        def __del__(self):
            queue.push(0)

    for _ in range(3):
        queue.push(Pusher())
    assert calls == ["pause"]
    queue.clear()
    # Three pushes from finalizers: above high again, after the resume.
    assert calls == ["pause", "resume", "pause"]
    assert len(queue) == 3 and queue.paused


@both_backends
def test_reinit_with_items_whose_finalizer_pushes(cls):
    queue = cls(None)

    class Pusher:
        def __del__(self):
            queue.push(1)

    for _ in range(5):
        queue.push(Pusher())
    queue.__init__(2)
    # The finalizers ran on the new queue: five pushes, above high.
    assert len(queue) == 5 and queue.high == 2 and queue.paused
    assert [queue.pop() for _ in range(5)] == [1] * 5


@both_backends
def test_failed_reinit_changes_nothing(cls):
    queue, calls = make(8, 2, cls)
    queue.push(0)
    with pytest.raises(ValueError):
        queue.__init__(4, 5)
    with pytest.raises(ValueError):
        queue.__init__(-1)
    assert (queue.high, queue.low, len(queue)) == (8, 2, 1)


class CollectOnEveryAllocation:
    """Run the cycle collector at the next allocation of a tracked object.

    ``garbage`` is a reference cycle whose finalizer is to run there: on
    Python up to 3.11 inside the allocating call (3.12+ defers the
    collection to the next bytecode, which these tests tolerate).
    """

    def __init__(self, finalize):
        class Cycle:
            def __init__(self):
                self.me = self

            def __del__(self):
                finalize()

        self.cycle = Cycle

    def __enter__(self):
        self.enabled = gc.isenabled()
        self.threshold = gc.get_threshold()
        gc.collect()
        gc.disable()
        self.cycle()  # garbage, until the collector runs
        gc.set_threshold(1)
        gc.enable()
        return self

    def __exit__(self, *exc):
        gc.set_threshold(*self.threshold)
        if not self.enabled:
            gc.disable()
        gc.collect()


@both_backends
def test_finalizer_pushes_while_the_queue_grows(cls):
    queue = cls(None)
    for i in range(4):
        queue.push(i)
    with CollectOnEveryAllocation(lambda: [queue.push(("finalizer", i)) for i in range(13)]):
        queue.push(4)  # full: the queue allocates a larger array
    items = [queue.pop() for _ in range(len(queue))]
    assert items[:4] == [0, 1, 2, 3]
    assert sorted(items[4:], key=repr) == sorted([4] + [("finalizer", i) for i in range(13)], key=repr)
    assert not queue


@both_backends
def test_finalizer_pushes_while_the_queue_shrinks(cls):
    queue = cls(None)
    for i in range(16):
        queue.push(i)
    for _ in range(11):
        queue.pop()
    with CollectOnEveryAllocation(lambda: [queue.push(("finalizer", i)) for i in range(20)]):
        queue.pop()  # 4 left of 16 slots: the queue allocates a smaller array
    items = [queue.pop() for _ in range(len(queue))]
    assert items[:4] == [12, 13, 14, 15]
    assert items[4:] == [("finalizer", i) for i in range(20)]
    assert not queue


@both_backends
def test_clear_releases_items_first_in_first_out(cls):
    # The same order on both backends, so that finalizers that use the
    # queue do the same things in the same order; wrapped around the array.
    queue = cls(None)
    released = []

    class Item:
        def __init__(self, name):
            self.name = name

        def __del__(self):
            released.append(self.name)

    for name in range(3):
        queue.push(Item(name))
    queue.pop()
    for name in range(3, 7):
        queue.push(Item(name))
    released.clear()
    queue.clear()
    assert released == [1, 2, 3, 4, 5, 6]
    for name in range(3):
        queue.push(Item(name))
    queue.__init__()
    assert released == [1, 2, 3, 4, 5, 6, 0, 1, 2]


@both_backends
def test_clear_survives_a_finalizer_that_empties_the_released_array(cls):
    # The array being released is out of the queue's reach, but not out of
    # gc.get_referrers(): the release loop checks its length every item.
    queue = cls(None)

    class Vandal:
        def __init__(self, sibling):
            self.sibling = sibling

        def __del__(self):
            for referrer in gc.get_referrers(self.sibling):
                if isinstance(referrer, (list, deque)):
                    referrer.clear()

    sibling = object()
    queue.push(Vandal(sibling))
    queue.push(sibling)
    for i in range(6):
        queue.push(i)
    del sibling
    queue.clear()
    assert len(queue) == 0
    queue.push(1)
    assert queue.pop() == 1
