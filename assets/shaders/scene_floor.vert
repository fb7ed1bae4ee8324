#version 330 core
// The floor plane of the objects3d studio: one quad per view, drawn after the
// objects so that hidden floor pixels fail the depth test before shading. Every
// per-view constant arrives precomputed (see fill_instance in render/scene.c).

layout(location = 0) in vec2 a_corner; // in [-1, 1]^2
layout(location = 6) in vec3 i_trans;
layout(location = 9) in vec3 i_q1;   // spot pool quadratic: x^2, xz, z^2
layout(location = 10) in float i_layer;
layout(location = 11) in vec3 i_q2;  // x, z, 1
layout(location = 12) in vec3 i_lin; // in front of the spot: x, z, 1
layout(location = 13) in vec3 i_base;
layout(location = 14) in vec3 i_sun;
layout(location = 15) in vec3 i_spot;

uniform mat4 u_vp;
uniform vec2 u_floor; // height, half extent

out vec2 v_xz;
flat out vec3 f_q1;
flat out vec3 f_q2;
flat out vec3 f_lin;
flat out vec2 f_center;
flat out vec3 f_base;
flat out vec3 f_sun;
flat out vec3 f_spot;

void main() {
    vec3 p = vec3(a_corner.x * u_floor.y, u_floor.x, a_corner.y * u_floor.y);
    v_xz = p.xz;
    f_q1 = i_q1;
    f_q2 = i_q2;
    f_lin = i_lin;
    f_center = i_trans.xz;
    f_base = i_base;
    f_sun = i_sun;
    f_spot = i_spot;
    gl_Position = u_vp * vec4(p, 1.0);
#ifdef RD_LAYERED
    gl_Layer = int(i_layer);
#endif
}
