# Fast reads of a Frame's opcode, data and fin, for the compiled modules
# (the assembler, the frame queue, the asyncio connection).
#
# Frame (websockets_fast/frames.py) is a Python dataclass with __slots__: a
# generic getattr() costs about a hundred instructions per field, several
# times per message. For an instance of Frame itself, the getters below read
# the slot at its offset, found once from the class's member descriptors (as
# the frame parser does to fill them). Anything else (a subclass, a frame
# made by an extension, an object that only looks like a frame) and an empty
# slot go through getattr(), as in Python.
#
# Usage: `from websockets_fast._speedups.framefields cimport object as
# FrameFields`, then type a variable as FrameFields (in an augmenting .pxd,
# with @cython.locals): `frame.opcode` then compiles to the getter. The type
# is `object` itself, so that typing a variable with it accepts any object.
# There is no module behind this file: the code is C, static in each module
# that cimports it.

cdef extern from *:
    """
    #include "structmember.h"

    /* Frame, or NULL until found; wsf_frame_state: 0 not looked for yet,
       1 found, -1 unusable (every read goes through getattr). */
    static PyTypeObject *wsf_frame_type = NULL;
    static int wsf_frame_state = 0;
    static Py_ssize_t wsf_frame_offsets[3];

    static void wsf_frame_find(void) {
        static const char *names[3] = {"opcode", "data", "fin"};
        PyObject *module, *cls, *descr;
        Py_ssize_t offsets[3];
        int i;
        wsf_frame_state = -1;
        /* Imported already: the modules that read frames import it. */
        module = PyImport_ImportModule("websockets_fast.frames");
        if (module == NULL) { PyErr_Clear(); return; }
        cls = PyObject_GetAttrString(module, "Frame");
        Py_DECREF(module);
        if (cls == NULL) { PyErr_Clear(); return; }
        if (!PyType_Check(cls)) { Py_DECREF(cls); return; }
        for (i = 0; i < 3; i++) {
            descr = PyObject_GetAttrString(cls, names[i]);
            if (descr == NULL) { PyErr_Clear(); Py_DECREF(cls); return; }
            /* A slot of this very class, holding an object. */
            if (!Py_IS_TYPE(descr, &PyMemberDescr_Type)
                    || PyDescr_TYPE(descr) != (PyTypeObject *)cls
                    || ((PyMemberDescrObject *)descr)->d_member->type != T_OBJECT_EX
                    || ((PyMemberDescrObject *)descr)->d_member->offset < (Py_ssize_t)sizeof(PyObject)
                    || ((PyMemberDescrObject *)descr)->d_member->offset
                       + (Py_ssize_t)sizeof(PyObject *) > ((PyTypeObject *)cls)->tp_basicsize) {
                Py_DECREF(descr);
                Py_DECREF(cls);
                return;
            }
            offsets[i] = ((PyMemberDescrObject *)descr)->d_member->offset;
            Py_DECREF(descr);
        }
        for (i = 0; i < 3; i++) wsf_frame_offsets[i] = offsets[i];
        /* Kept for the life of the process, as the class is. */
        wsf_frame_type = (PyTypeObject *)cls;
        wsf_frame_state = 1;
    }

    static PyObject *wsf_frame_field(PyObject *frame, int index, PyObject *name) {
        if (Py_TYPE(frame) == wsf_frame_type) {
            PyObject *value = *(PyObject **)((char *)frame + wsf_frame_offsets[index]);
            if (value != NULL) {
                Py_INCREF(value);
                return value;
            }
        } else if (wsf_frame_state == 0) {
            wsf_frame_find();
            return wsf_frame_field(frame, index, name);
        }
        return PyObject_GetAttr(frame, name);
    }

    /* fin as a C truth value: -1 on error. */
    static int wsf_frame_fin(PyObject *frame, PyObject *name) {
        PyObject *value;
        int result;
        if (Py_TYPE(frame) == wsf_frame_type) {
            value = *(PyObject **)((char *)frame + wsf_frame_offsets[2]);
            if (value == Py_True) return 1;
            if (value == Py_False) return 0;
        }
        value = wsf_frame_field(frame, 2, name);
        if (value == NULL) return -1;
        result = PyObject_IsTrue(value);
        Py_DECREF(value);
        return result;
    }
    """
    # The name is that of the field, for getattr().
    object wsf_frame_field(object frame, int index, object name)
    int wsf_frame_fin(object frame, object name) except -1


cdef extern from *:
    ctypedef class builtins.object [object PyObject, check_size ignore]:
        @property
        cdef inline opcode(self):
            return wsf_frame_field(self, 0, "opcode")

        @property
        cdef inline data(self):
            return wsf_frame_field(self, 1, "data")

        @property
        cdef inline bint fin(self) except -1:
            return wsf_frame_fin(self, "fin")
